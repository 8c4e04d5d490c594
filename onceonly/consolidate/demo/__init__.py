"""Demo legacy data of a merged municipality: former 臺南縣's household system (CSV) and
former 臺南市's (SQLite or Excel), with known true duplicates and the faults real merged
systems show, a ground-truth file and a plan that consolidates them."""

from onceonly.consolidate.demo.generate import DemoData, generate_demo

__all__ = ["DemoData", "generate_demo"]
