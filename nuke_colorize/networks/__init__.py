"""Neural networks as plain torch modules, with parameter names that match published weights.

* :mod:`.vgg19` - VGG19 convolutional feature extractor (Caffe-style input).
* :mod:`.correspondence` - the DeepExemplar correspondence ("non-local") subnet.
* :mod:`.colornet` - the DeepExemplar colorization subnet.
* :mod:`.layout` - the published checkpoints' key/shape layout, checks and random weights.
* :mod:`.deepexemplar` - the three subnets wired together for one frame.

Importing this package does not import torch; the submodules do.
"""
#: the softmax temperature the official test script passes to the warp (winner-takes-all)
OFFICIAL_TEMPERATURE = 1e-10

