# Asks the installed duplicity 0.8.22 how it reads time strings (used as a black-box oracle by
# time-oracle.test.ts). stdin: {"now": int, "args": [...], "names": [...]}; stdout: the results as JSON,
# an error being null.
import json, sys
from duplicity import dup_time

req = json.load(sys.stdin)
def arg(s):
    try:
        return dup_time.genstrtotime(s, override_curtime=req['now'])
    except Exception:
        return None
# a time in a file name is read the same way, upper-cased first
json.dump({'args': [arg(s) for s in req['args']], 'names': [arg(s.upper()) for s in req['names']]}, sys.stdout)
