// Physical reference for container start: clone() into new mount, PID, UTS, IPC and network
// namespaces + execve of a static `true` (busybox), then wait. No rootfs, cgroups or seccomp:
// the floor any runtime pays. Prints one ms figure per run.  Usage: clone_true N [STATIC_TRUE]
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char* prog = "/bin/busybox";
static char stack[64 * 1024] __attribute__((aligned(16)));

static int child(void* arg) {
    (void)arg;
    char* argv[] = {"true", NULL};
    char* envp[] = {NULL};
    execve(prog, argv, envp);
    _exit(127);
}

int main(int argc, char** argv) {
    int n = argc > 1 ? atoi(argv[1]) : 30;
    if (argc > 2) prog = argv[2];
    int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | SIGCHLD;
    for (int i = 0; i < n; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        pid_t pid = clone(child, stack + sizeof stack, flags, NULL);
        if (pid < 0) {
            perror("clone");
            return 1;
        }
        int st;
        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "child failed\n");
            return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("%.3f\n", (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6);
    }
    return 0;
}
