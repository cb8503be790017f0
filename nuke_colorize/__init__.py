"""nuke-colorize: exemplar-based video colorization for compositors.

Data flows one way: plate -> io -> color -> engine -> backend -> refine -> color -> io.
Nothing in this package imports ``nuke`` except :mod:`nuke_colorize.host.nuke`.
"""
__version__ = "0.1.0"
