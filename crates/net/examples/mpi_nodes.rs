//! Which ranks share a node: `MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)`
//! next to each rank's hostname, the check behind the emulated cluster
//! (`scripts/cluster.sh`), where every network namespace must be a node.
//!
//! Every rank prints its hostname and the lowest world rank of its node;
//! rank 0 then checks that two ranks share a node exactly when they share a
//! hostname, and exits non-zero if not.
//!
//! ```text
//! cargo build -p mpitorrent-net --example mpi_nodes
//! bash scripts/cluster.sh up 3 1gbit
//! bash scripts/cluster.sh run -np 4 target/debug/examples/mpi_nodes
//! ```

#[cfg(not(feature = "mpi"))]
fn main() {
    eprintln!("mpi_nodes needs the `mpi` feature of mpitorrent-net");
    std::process::exit(2);
}

#[cfg(feature = "mpi")]
fn main() {
    use mpi::traits::*;

    let universe = mpi::initialize().expect("MPI is already initialised");
    let world = universe.world();
    let rank = world.rank();
    let host = mpi::environment::processor_name().expect("a UTF-8 hostname");

    // The node's lowest world rank names the node (ranks keep their order).
    let node = world.split_shared(rank);
    let mut leader = rank;
    node.process_at_rank(0).broadcast_into(&mut leader);
    println!(
        "rank {rank}: host {host}, node of {} rank(s) led by rank {leader}",
        node.size()
    );

    // Every rank's hostname (padded to a fixed width) and leader, on all.
    const WIDTH: usize = 64;
    let mut name = [0u8; WIDTH];
    let len = host.len().min(WIDTH);
    name[..len].copy_from_slice(&host.as_bytes()[..len]);
    let size = world.size() as usize;
    let mut names = vec![0u8; WIDTH * size];
    let mut leaders = vec![0i32; size];
    world.all_gather_into(&name[..], &mut names[..]);
    world.all_gather_into(&leader, &mut leaders[..]);

    if rank == 0 {
        let names: Vec<&[u8]> = names.chunks(WIDTH).collect();
        let wrong: Vec<(usize, usize)> = (0..size)
            .flat_map(|a| (a + 1..size).map(move |b| (a, b)))
            .filter(|&(a, b)| (names[a] == names[b]) != (leaders[a] == leaders[b]))
            .collect();
        if wrong.is_empty() {
            println!("mpi_nodes: OK: nodes are exactly the hostnames");
        } else {
            println!(
                "mpi_nodes: FAIL: these pairs share a hostname or a node, not both: {wrong:?}"
            );
            mpitorrent_net::mpi::abort(1);
        }
    }
}
