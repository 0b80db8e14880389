"""(being written)"""

FIGURES: dict = {}
