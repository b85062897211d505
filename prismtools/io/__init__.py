"""prismtools.io"""
