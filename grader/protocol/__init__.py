"""What both sides of the trust boundary share: the wire format and the tagged request values.

The only package the worker side imports besides its own (a test of the import graph keeps it so).
"""
