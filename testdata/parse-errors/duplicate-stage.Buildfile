FROM busybox AS build
FROM busybox AS Build
