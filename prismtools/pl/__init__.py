"""prismtools.pl"""
