/* A Multiboot v1 kernel built with GNU as and ld (not with the project's own builder), for the loader's tests:
   checks the boot magic and the information structure, prints the command line and the memory size,
   sums its .data table and zeroed .bss, and exits through port 0xF4. */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003
        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .section .data
table:  .long 1, 2, 3, 4, 5, 6, 7, 8
hello:  .asciz "gas kernel: cmdline=["
mid:    .asciz "] bss="
tail:   .asciz " sum="
nl:     .asciz "\n"

        .section .bss
        .align 16
zeros:  .skip 65536
stack:  .skip 16384
stack_top:

        .section .text
        .globl _start
_start:
        mov $stack_top, %esp
        cmp $0x2BADB002, %eax
        jne fail
        mov %ebx, %ebp
        mov $hello, %esi
        call puts
        testl $4, (%ebp)
        jz 1f
        mov 16(%ebp), %esi
        call puts
1:      mov $mid, %esi
        call puts
        /* every byte of .bss must be zero */
        xor %eax, %eax
        mov $zeros, %edi
        mov $65536, %ecx
2:      or (%edi), %al
        inc %edi
        loop 2b
        add $'0', %al
        call putc
        mov $tail, %esi
        call puts
        xor %eax, %eax
        mov $table, %esi
        mov $8, %ecx
3:      add (%esi), %eax
        add $4, %esi
        loop 3b
        add $('0' - 30), %al     /* 36 -> '6' */
        call putc
        mov $nl, %esi
        call puts
        mov $0, %al
        out %al, $0xF4
fail:   mov $1, %al
        out %al, $0xF4
        cli
4:      hlt
        jmp 4b

puts:   lodsb
        test %al, %al
        jz 5f
        call putc
        jmp puts
5:      ret

putc:   out %al, $0xE9
        ret
