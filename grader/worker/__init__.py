"""The untrusted side: the zygote, the per-exercise worker server, the module loader and the
confinement it applies to itself. Copied whole into the sandbox; imports only
``grader.protocol`` (tests/test_layout.py checks the import graph).
"""
