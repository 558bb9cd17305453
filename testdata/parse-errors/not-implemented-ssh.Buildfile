FROM busybox
RUN --mount=type=ssh ssh git@example.com
