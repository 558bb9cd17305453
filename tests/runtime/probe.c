/* A tiny static probe run inside test containers: it tries one thing and prints "OK" or the
 * errno name, so tests assert the exact outcome. Compiled by the tests with `cc -static`. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int report(long rc) {
    if (rc >= 0) { printf("OK\n"); return 0; }
    const char* n = strerrorname_np(errno);
    printf("%s\n", n ? n : "E?");
    return 1;
}

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    const char* cmd = argv[1];
    const char* arg = argc > 2 ? argv[2] : "";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(cmd, "fds")) {
        DIR* d = opendir("/proc/self/fd");
        if (!d) return report(-1);
        struct dirent* e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) printf("%s ", e->d_name);
        printf("\n");
        return 0;
    }
    if (!strcmp(cmd, "mount-proc")) { mkdir("/tmp/p", 0755); return report(mount("proc", "/tmp/p", "proc", 0, NULL)); }
    if (!strcmp(cmd, "mount-bind")) { mkdir("/tmp/b", 0755); return report(mount("/", "/tmp/b", NULL, MS_BIND, NULL)); }
    if (!strcmp(cmd, "umount")) return report(umount2(arg, MNT_DETACH));
    if (!strcmp(cmd, "unshare")) return report(unshare(CLONE_NEWNS));
    if (!strcmp(cmd, "clone-userns")) {
        long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (r == 0) _exit(0);
        if (r > 0) waitpid((pid_t)r, NULL, 0);
        return report(r);
    }
    if (!strcmp(cmd, "clone3")) return report(syscall(SYS_clone3, NULL, 0));
    if (!strcmp(cmd, "add_key")) return report(syscall(SYS_add_key, "user", "imgbuild-test", "x", 1, -2 /* process keyring */));
    if (!strcmp(cmd, "keyctl")) return report(syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -2, 1));
    if (!strcmp(cmd, "personality")) return report(personality(strtoul(arg, NULL, 0)));
    if (!strcmp(cmd, "write")) {
        int fd = open(arg, O_WRONLY);
        if (fd < 0) return report(-1);
        return report(write(fd, argc > 3 ? argv[3] : "0", 1));
    }
    if (!strcmp(cmd, "mknod-read")) {
        unlink("/tmp/blk");
        if (mknod("/tmp/blk", S_IFBLK | 0600, makedev(atoi(arg), 0)) != 0) return report(-1);
        int fd = open("/tmp/blk", O_RDONLY);
        if (fd < 0) return report(-1);
        char b[512];
        return report(read(fd, b, sizeof b));
    }
    if (!strcmp(cmd, "ptrace")) return report(ptrace(PTRACE_ATTACH, atoi(arg), 0, 0));
    if (!strcmp(cmd, "kill")) return report(kill(atoi(arg), 0));
    if (!strcmp(cmd, "chdir")) return report(chdir(arg));
    if (!strcmp(cmd, "alloc")) {
        long mb = atol(arg);
        for (long i = 0; i < mb; i++) {
            char* p = malloc(1 << 20);
            if (!p) return report(-1);
            memset(p, 1, 1 << 20);
        }
        printf("allocated %ld MiB\n", mb);
        return 0;
    }
    if (!strcmp(cmd, "spin")) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        volatile unsigned long x = 0;
        do {
            for (int i = 0; i < 1000000; i++) x++;
            clock_gettime(CLOCK_MONOTONIC, &b);
        } while (b.tv_sec - a.tv_sec < atoi(arg));
        return 0;
    }
    if (!strcmp(cmd, "forkbomb")) {
        int n = 0;
        for (;;) {
            pid_t p = fork();
            if (p == 0) { pause(); _exit(0); }
            if (p < 0) break;
            if (++n > 10000) break;
        }
        printf("forked %d then %s\n", n, strerrorname_np(errno));
        return 0;
    }
    if (!strcmp(cmd, "io_uring_setup")) {
        char params[120];
        memset(params, 0, sizeof params);
        long fd = syscall(425 /* io_uring_setup */, 4, params);
        return report(fd);
    }
    if (!strcmp(cmd, "io_uring_enter")) return report(syscall(426, -1, 0, 0, 0, NULL, 0));
    if (!strcmp(cmd, "io_uring_register")) return report(syscall(427, -1, 0, NULL, 0));
    /* Push ARG (default "echo pwned\n") into the input queue of /dev/tty and of fds 0-2:
     * prints one verdict per target ("tty:EPERM fd0:ENOTTY ..."), OK where it worked. */
    if (!strcmp(cmd, "tiocsti")) {
        const char* s = argc > 2 ? arg : "echo pwned\n";
        int tty = open("/dev/tty", O_RDWR | O_NOCTTY);
        int targets[4] = {tty, 0, 1, 2};
        const char* names[4] = {"tty", "fd0", "fd1", "fd2"};
        for (int t = 0; t < 4; t++) {
            long rc = targets[t] < 0 ? -1 : 0;
            for (const char* c = s; rc == 0 && *c; c++) rc = ioctl(targets[t], TIOCSTI, c);
            const char* n = rc == 0 ? "OK" : strerrorname_np(errno);
            printf("%s:%s ", names[t], n ? n : "E?");
        }
        printf("\n");
        return 0;
    }
    /* Give FILE the file capability cap_net_raw+ep (VFS_CAP_REVISION_2). */
    if (!strcmp(cmd, "setcap")) {
        unsigned int cap[5] = {0x02000001u, 1u << 13, 0, 0, 0};
        return report(setxattr(arg, "security.capability", cap, sizeof cap, 0));
    }
    if (!strcmp(cmd, "hascap")) return report(getxattr(arg, "security.capability", NULL, 0));
    if (!strcmp(cmd, "mksock")) {  /* a bound unix socket at ARG */
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, arg, sizeof a.sun_path - 1);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        return report(s < 0 ? s : bind(s, (struct sockaddr*)&a, sizeof a));
    }
    if (!strcmp(cmd, "setacl")) {  /* access ACL user::rw- user:1000:r-- group::r-- mask::r-- other::r-- */
        struct { unsigned short tag, perm; unsigned int id; } __attribute__((packed)) e[5] = {
            {0x01, 6, 0xffffffffu}, {0x02, 4, 1000}, {0x04, 4, 0xffffffffu}, {0x10, 4, 0xffffffffu}, {0x20, 4, 0xffffffffu}};
        char buf[4 + sizeof e];
        unsigned int version = 2;
        memcpy(buf, &version, 4);
        memcpy(buf + 4, e, sizeof e);
        return report(setxattr(arg, "system.posix_acl_access", buf, sizeof buf, 0));
    }
    if (!strcmp(cmd, "hasacl")) return report(getxattr(arg, "system.posix_acl_access", NULL, 0));
    if (!strcmp(cmd, "segv")) { *(volatile int*)0 = 1; return 0; }
    if (!strcmp(cmd, "zombie")) {  /* leave a zombie child behind and exit */
        if (fork() == 0) _exit(0);
        usleep(100000);
        return 0;
    }
    fprintf(stderr, "probe: unknown command %s\n", cmd);
    return 2;
}
