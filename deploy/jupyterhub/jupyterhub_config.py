"""JupyterHub configuration of the course hub.

``autograder hub start --roster roster.csv`` prepares the machine (Unix users and groups, the course directory,
nbgrader's exchange) and runs ``jupyterhub -f`` this file with ``COURSE_HUB_SETTINGS`` naming the settings it
wrote (``<state>/hub.json``); what the hub does is in ``autograder/hub/hubconfig.py``.

Logging in: PAM, i.e. each user's Unix password (users the command creates get a random first password,
listed in ``<state>/initial-passwords.csv``, readable by root only; ``passwd`` in a terminal changes it).
For a real course another authenticator is often better; put its settings in a file of your own and pass it
with ``autograder hub start --config FILE`` (loaded after this one). The hub's logins must stay the roster's
``student_id`` column, since each is also a Unix user. For example:

- the university's single sign-on or GitHub, with ``oauthenticator`` (``pip install oauthenticator``)::

      c.JupyterHub.authenticator_class = "generic-oauth"   # or "github", "google", "azuread", ...
      c.GenericOAuthenticator.client_id = "..."
      c.GenericOAuthenticator.client_secret = "..."
      c.GenericOAuthenticator.oauth_callback_url = "https://hub.example.edu/hub/oauth_callback"
      c.GenericOAuthenticator.authorize_url = "..."; token_url, userdata_url, username_claim likewise

- the LMS (Canvas, Moodle, Blackboard) as an LTI 1.3 tool, with ``ltiauthenticator``::

      c.JupyterHub.authenticator_class = "ltiauthenticator.lti13.auth.LTI13Authenticator"
      c.LTI13Authenticator.issuer = "https://canvas.instructure.com"
      c.LTI13Authenticator.client_id = ["..."]
      c.LTI13Authenticator.authorize_url = "..."; c.LTI13Authenticator.jwks_endpoint = "..."
      c.LTI13Authenticator.username_key = "..."   # the claim that holds the roster's student_id

The roster still decides who may log in (``allowed_users``) and who grades. Serve the hub over HTTPS
(``c.JupyterHub.ssl_key`` / ``ssl_cert`` in that file, or a reverse proxy in front of ``--ip 127.0.0.1``):
passwords and notebooks must not cross the network in clear.
"""

import os

from autograder.hub.hubconfig import configure

configure(get_config(), os.environ["COURSE_HUB_SETTINGS"])  # noqa: F821 (JupyterHub provides get_config)

if os.environ.get("COURSE_HUB_EXTRA_CONFIG"):
    load_subconfig(os.environ["COURSE_HUB_EXTRA_CONFIG"])  # noqa: F821 (JupyterHub provides load_subconfig)
