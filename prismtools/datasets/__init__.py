"""prismtools.datasets"""
