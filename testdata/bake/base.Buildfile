# The shared base of the bake example.
FROM busybox:latest
RUN mkdir -p /app && echo "base built on $(uname -s)" > /app/base.txt
