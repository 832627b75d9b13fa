"""Prints the closing lines of a test run from a .trx results file: each skipped test with its reason, each failed
test with the start of its message, then 'N passed, N failed, N skipped'. A skip is never silent: CI logs say which
checks did not run and why. Failures are repeated here because logs are often read from the end."""
import sys
import xml.etree.ElementTree as ET

ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
root = ET.parse(sys.argv[1]).getroot()
for result in root.iterfind("t:Results/t:UnitTestResult", ns):
    if result.get("outcome") == "Failed":
        message = result.findtext("t:Output/t:ErrorInfo/t:Message", default="", namespaces=ns).strip()
        trace = result.findtext("t:Output/t:ErrorInfo/t:StackTrace", default="", namespaces=ns).strip()
        print(f"FAILED: {result.get('testName')}: {message[:1500]}")
        print("  " + "\n  ".join(trace.splitlines()[:6]))
        continue
    if result.get("outcome") != "NotExecuted":
        continue
    reason = result.findtext("t:Output/t:ErrorInfo/t:Message", default="", namespaces=ns).strip()
    if not reason:
        reason = result.findtext("t:Output/t:StdOut", default="", namespaces=ns).strip()
    print(f"skipped: {result.get('testName')}: {reason or 'no reason given'}")
counters = root.find("t:ResultSummary/t:Counters", ns)
passed = int(counters.get("passed", 0))
failed = int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0)) + int(counters.get("aborted", 0))
# Skipped tests count in "total" but neither as executed nor in any outcome attribute.
skipped = int(counters.get("total", 0)) - int(counters.get("executed", 0)) + int(counters.get("notExecuted", 0))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
