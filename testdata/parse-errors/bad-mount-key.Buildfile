FROM busybox
RUN --mount=type=cache,target=/c,colour=red true
