ARG V=1
RUN echo $V
FROM busybox
