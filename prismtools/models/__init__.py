"""prismtools.models"""
