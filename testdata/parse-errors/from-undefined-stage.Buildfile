FROM busybox AS build
FROM busybox
COPY --from=Build! /a /b
