#include <stdio.h>
int main(int argc, char **argv) { (void)argc; (void)argv; puts("oneshot: under construction"); return 0; }
