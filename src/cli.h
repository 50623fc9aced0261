/* The leadx sub-commands: serve, migrate, keygen, accounts, verify. Each returns a process exit code. */
#ifndef LX_CLI_H
#define LX_CLI_H

int lx_cli_main(int argc, char **argv);

#endif
