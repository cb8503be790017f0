"""The Nuke side of nuke-colorize: the only modules in the package that import ``nuke``.

* :mod:`.node`: the Colorize node (knob callbacks, Analyze, Clear cache, status, creation).
* :mod:`.sources`: where the plate, matte and reference images come from (a Read's files
  directly, anything else rendered to an EXR precomp with a temporary Write).
* :mod:`.jobs`: Analyze in the background with ``nuke.ProgressTask`` (cancellable).
* :mod:`.render`: the render hook that computes or refuses frames missing from the cache.
* :mod:`.menu`: toolbar and menu entries; :mod:`.panel`: the reference panel in Nuke.

Everything runs in Nuke's own Python (3.7+), standard library only; the engine is reached
through :mod:`nuke_colorize.host.bridge`.
"""
