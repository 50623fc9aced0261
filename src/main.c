/* leadx: one binary, several sub-commands (see cli.c). */
#include "cli.h"

int main(int argc, char **argv)
{
    return lx_cli_main(argc, argv);
}
