"""prismtools.pp"""
