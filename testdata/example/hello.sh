#!/bin/sh
echo "$GREETING from an imgbuild image"
cat /app/built.txt
echo "running as $(id -u):$(id -g) in $(pwd), hostname $(hostname)"
