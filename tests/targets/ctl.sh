#!/bin/sh
# Controls of a server the harness does not start, as a deployment's scripts would be: the protocol app
# runs in the background and is found again by its PID file.
#   usage: ctl.sh DIR PORT start|crash|stop|pause|resume
set -e
dir=$1
port=$2
here=$(dirname "$0")
case $3 in
  start) "${PYTHON:-python3}" "$here/../protocol_app.py" --port "$port" --db "$dir/chat.db" >>"$dir/app.log" 2>&1 &
         echo $! >"$dir/app.pid" ;;
  crash) pid=$(cat "$dir/app.pid"); kill -KILL "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done ;;
  stop)  pid=$(cat "$dir/app.pid"); kill -TERM "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done ;;
  pause)  kill -STOP "$(cat "$dir/app.pid")" ;;
  resume) kill -CONT "$(cat "$dir/app.pid")" ;;
  *)     echo "usage: ctl.sh DIR PORT start|crash|stop|pause|resume" >&2; exit 2 ;;
esac
