"""Figure code of the lectures, one module per lecture: what draws a diagram or a comparison lives here, so that a
lecture's cells show what a reader should read (the model, the experiment, the conclusion), not fifty lines of
matplotlib. Every function returns the ``Figure`` it drew and never calls ``plt.show()``.

``diagrams`` holds what several lectures draw (sliding windows, annotated matrices, block pipelines) and their
Markdown tables.
"""
