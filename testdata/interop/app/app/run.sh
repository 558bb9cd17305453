#!/bin/sh
echo "user=$(id -u):$(id -g) pwd=$(pwd) env=$APP_ENV gen=$(cat /opt/gen/gen.txt) answer=$(cat /opt/gen/answer) args=$*"
