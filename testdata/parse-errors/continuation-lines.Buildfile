FROM busybox
RUN echo a \
  # comment inside

  && bogus \
  --x
WORKDIR
