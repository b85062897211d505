"""prismtools.tl"""
