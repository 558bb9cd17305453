#!/bin/sh
echo "hello from the bake example, version $(cat /app/version)"
