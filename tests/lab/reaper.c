/* reaper CMD [ARG...] - runs CMD as a child subreaper and reaps every orphan the moment it
 * exits. Why: a lab host's daemons (libvirtd and the QEMU processes it double-forks) are
 * orphans; without a subreaper they go to this machine's PID 1, which here reaps them about
 * 1.7 s late. libvirt waits for a migrated-away QEMU to disappear (kill(pid, 0) every 200 ms)
 * before the migration call returns, so every move in the lab paid that delay. A real host's
 * systemd reaps at once; the lab now does too. */
#include <errno.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: reaper CMD [ARG...]\n");
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
		perror("reaper: prctl");
		return 1;
	}
	pid_t child = fork();
	if (child < 0) {
		perror("reaper: fork");
		return 1;
	}
	if (child == 0) {
		execvp(argv[1], argv + 1);
		perror(argv[1]);
		_exit(127);
	}
	/* no child left means no descendant left: nothing more can be adopted */
	while (wait(NULL) >= 0 || errno == EINTR)
		;
	return 0;
}
