"""What a run costs the machine: CPU and memory per process, disk per database, bytes on the bus."""
