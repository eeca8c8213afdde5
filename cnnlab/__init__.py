"""cnnlab: the shared library of the course "Convolutional Networks and Image Segmentation".

* ``cnnlab.device``   picks CUDA, MPS or the CPU and scales work budgets by device;
* ``cnnlab.data``     offline, seeded datasets (``Shapes``, ``Cells``, ``ShapesClassification``) and loaders
  for real data (``SegmentationFolder``, ``OxfordPets``);
* ``cnnlab.metrics``  confusion-matrix IoU for the lectures and benchmarks;
* ``cnnlab.plotting`` plotting helpers: masks, overlays, image grids, filter grids, training curves;
* ``cnnlab.figures``  the lectures' figure code, one module per lecture, and ``figures.diagrams``, the sliding
  windows, annotated matrices and block diagrams of the convolution and architecture lectures;
* ``cnnlab.feature_visualization`` what a CNN sees: filters, receptive fields, top-k patches, class
  maximisation, DeepDream, saliency and occlusion (Assignment 4's answer key: instructor and lecture 03 only);
* ``cnnlab.train``    a plain training loop with a progress bar and a metric history;
* ``cnnlab.settings`` ``COURSE_FAST`` and seeding.
"""

__version__ = "0.1.0"
