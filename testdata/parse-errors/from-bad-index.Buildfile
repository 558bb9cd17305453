FROM busybox
FROM busybox
COPY --from=5 /a /b
