# Sourced by authors_training.sh and seeds_training.sh: `lane NAME SPEC...` starts, in the
# background, one lane that runs lane.sh on each "VARIANT:RUN:flags" spec in turn, through the
# budgets "$budgets", logging to "$logs/NAME.log" (the caller sets here, budgets and logs).
lane() {  # name, then "VARIANT:RUN:flags" specs run one after another
  local name=$1; shift
  local cmd=""
  for spec in "$@"; do cmd+="bash '$here/lane.sh' '$budgets' '$spec' && "; done
  nohup bash -c "${cmd}true" >> "$logs/$name.log" 2>&1 &
  echo "lane $name: pid $! (log $logs/$name.log)"
}
