/*
 * lana-api.c — a stand-in for the bank platform's Rust API binary: a static executable the
 * example image ships. It prints its configuration so `lana-img run` (a later issue) has
 * something to show.
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
        const char *home = getenv("LANA_HOME");
        printf("lana-api: %s, LANA_HOME=%s\n", argc > 1 ? argv[1] : "(no command)",
               home ? home : "(unset)");
        FILE *f = fopen("/etc/lana/api.toml", "r");
        if (f) {
                char line[256];
                while (fgets(line, sizeof line, f))
                        fputs(line, stdout);
                fclose(f);
        }
        return 0;
}
