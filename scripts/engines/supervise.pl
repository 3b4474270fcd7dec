#!/usr/bin/perl
# Runs one engine daemon as the child of a "child subreaper" and reaps every process that
# ends below it.
#
# Why: PID 1 on the project's machines does not reap orphans. An engine's shims (and conmon)
# detach from the daemon and are re-parented to the nearest subreaper; without one they, and
# the container processes they leave behind, would stay as zombies forever once they end.
# This process marks itself as a subreaper, starts the daemon, and waits for children until
# none is left (the daemon and everything re-parented to it), then exits by itself.
#
# Usage: supervise.pl PIDFILE -- COMMAND [ARG...]
#   PIDFILE receives the daemon's PID ("-" to let the daemon write its own).
# The supervisor ignores SIGTERM/SIGINT/SIGHUP (the daemon does not: it gets the default
# handlers back before exec), so stopping an engine means signalling the daemon, not this.
use strict;
use warnings;
use POSIX ();

my ($pidfile, $sep, @cmd) = @ARGV;
die "usage: supervise.pl PIDFILE -- COMMAND [ARG...]\n"
  unless defined $pidfile && defined $sep && $sep eq '--' && @cmd;

# prctl(PR_SET_CHILD_SUBREAPER, 1): the syscall number depends on the architecture.
my %prctl = (x86_64 => 157, aarch64 => 167, ppc64le => 171, s390x => 172, riscv64 => 167);
my $arch = (POSIX::uname())[4];
if (my $nr = $prctl{$arch}) {
  syscall($nr, 36, 1, 0, 0, 0) == 0 or warn "supervise.pl: cannot become a subreaper: $!\n";
} else {
  warn "supervise.pl: unknown architecture $arch, zombies will not be reaped\n";
}

$SIG{$_} = 'IGNORE' for qw(TERM INT HUP);

my $pid = fork();
die "supervise.pl: fork failed: $!\n" unless defined $pid;
if ($pid == 0) {
  $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP);
  { exec { $cmd[0] } @cmd; }
  print STDERR "supervise.pl: cannot run $cmd[0]: $!\n";
  POSIX::_exit(127);
}

if ($pidfile ne '-') {
  my $tmp = "$pidfile.tmp$$";
  if (open(my $fh, '>', $tmp)) {
    print $fh "$pid\n";
    close($fh);
    rename($tmp, $pidfile) or warn "supervise.pl: cannot write $pidfile: $!\n";
  } else {
    warn "supervise.pl: cannot write $pidfile: $!\n";
  }
}

my $status = 0;
while (1) {
  my $r = waitpid(-1, 0);
  last if $r == -1;    # no child left at all
  if ($r == $pid) {
    $status = $?;
    my $how = ($status & 127) ? 'signal ' . ($status & 127) : 'code ' . ($status >> 8);
    print STDERR "supervise.pl: $cmd[0] (pid $pid) ended with $how\n";
  }
}
exit 0;
