from .shapes import Shapes, ShapesClassification
