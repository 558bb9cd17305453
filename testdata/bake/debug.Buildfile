# A debug image; built after app (depends: [app]).
FROM busybox:latest
RUN echo "debug tools would go here" > /debug.txt
