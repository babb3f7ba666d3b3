/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fork. A child must not record into its parent's segment, nor keep the
 * parent "alive" by holding the header's open file description, whose OFD
 * lock lives as long as any descriptor or mapping of it. Every descriptor is
 * close-on-exec; across a plain fork the child handler drops them. The
 * prepare handler takes the list lock (so no writer is half opened or half
 * closed, with a descriptor the list does not know yet) and every writer's
 * growth lock (so a child never inherits one held by a thread it does not
 * have, and can close its handles).
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fork.h"
#include "rcu.h"

static pthread_mutex_t writers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ttshm_writer *writers;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void)
{
    pthread_mutex_lock(&writers_lock);
    for (struct ttshm_writer *w = writers; w; w = w->list_next)
        pthread_mutex_lock(&w->grow_lock);
    ttshm_rcu_before_fork();
}

static void atfork_parent(void)
{
    ttshm_rcu_after_fork_parent();
    for (struct ttshm_writer *w = writers; w; w = w->list_next)
        pthread_mutex_unlock(&w->grow_lock);
    pthread_mutex_unlock(&writers_lock);
}

/* The child's handles stay valid and record nothing; the default writer
 * reopens a segment of its own at its next use. */
static void atfork_child(void)
{
    ttshm_rcu_after_fork_child();
    for (struct ttshm_writer *w = writers; w; w = w->list_next) {
        atomic_store(&w->closed, 1);
        if (w->hdr != NULL) {
            munmap(w->hdr, w->hdr_bytes);
            w->hdr = NULL;
        }
        if (w->fd >= 0) {
            close(w->fd);
            w->fd = -1;
        }
        ttshm_preparer_init(w); /* its threads were not forked */
        pthread_mutex_unlock(&w->grow_lock);
    }
    ttshm_forget_thread_id();
    pthread_mutex_unlock(&writers_lock);
}

static void register_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

void ttshm_fork_lock(void)
{
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&writers_lock);
}

void ttshm_fork_unlock(void)
{
    pthread_mutex_unlock(&writers_lock);
}

void ttshm_fork_list_add(struct ttshm_writer *w)
{
    w->list_next = writers;
    writers = w;
}

void ttshm_fork_list_remove(struct ttshm_writer *w)
{
    for (struct ttshm_writer **p = &writers; *p; p = &(*p)->list_next)
        if (*p == w) {
            *p = w->list_next;
            break;
        }
}
