"""cnnlab: the shared library of the course "Convolutional Networks and Image Segmentation".

* ``cnnlab.device``  picks CUDA, MPS or the CPU and scales work budgets by device;
* ``cnnlab.data``    offline, seeded datasets (``Shapes``, ``Cells``, ``ShapesClassification``) and loaders
  for real data (``SegmentationFolder``, ``OxfordPets``);
* ``cnnlab.metrics`` confusion-matrix IoU for the lectures and benchmarks;
* ``cnnlab.viz``     figures: masks, overlays, filter grids, training curves;
* ``cnnlab.train``   a plain training loop with a progress bar and a metric history;
* ``cnnlab.settings`` ``COURSE_FAST`` and seeding.
"""

__version__ = "0.1.0"
