"""Prints the closing line of a test run, 'N passed, N failed, N skipped', from a .trx results file."""
import sys
import xml.etree.ElementTree as ET

ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
counters = ET.parse(sys.argv[1]).getroot().find("t:ResultSummary/t:Counters", ns)
passed = int(counters.get("passed", 0))
failed = int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0)) + int(counters.get("aborted", 0))
# Skipped tests count in "total" but neither as executed nor in any outcome attribute.
skipped = int(counters.get("total", 0)) - int(counters.get("executed", 0)) + int(counters.get("notExecuted", 0))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
