"""Linux 6.18 x86_64 with SLUB: the parts where it differs from 2.6.18"""
