//! The scripted (simulated) streaming server, in processes of its own so that its schedule does
//! not depend on the client's: `--server-procs K` copies of this executable started with
//! `--serve-worker`, each single-threaded, pinned to a CPU of its own and listening on one shared
//! port (SO_REUSEPORT, so the kernel spreads the connections over them). Each runs one event
//! loop over its connections: nonblocking accepts and reads, a min-heap of due writes, `ppoll`
//! with a nanosecond timeout up to the next one (1 ns timer slack) and a short spin when it is
//! due within `--spin-us`. A thread per connection with blocking writes and sleeps, as before,
//! fell 2.5–7 ms behind its schedule at p99 with 256 streams on 12 cores: its threads were
//! descheduled, between stamping and writing as well.
//!
//! Every token is one chunk of the SSE stream, written at `received + ttft + k × gap`, with
//! CLOCK_MONOTONIC stamped just before and just after its `write()`: the token reached the
//! client's socket no earlier than the first stamp and no later than the second.

use crate::sys::{mono_ns, pin};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// When the server writes each token of an answer.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    pub tokens: u32,
    pub ttft_ns: u64,
    pub gap_ns: u64,
    /// Spin instead of sleeping when the next write is due within this.
    pub spin_ns: u64,
}

impl Schedule {
    /// When token `k` of a request received at `received` is due.
    pub fn due(&self, received: u64, k: usize) -> u64 {
        received + self.ttft_ns + k as u64 * self.gap_ns
    }
}

/// What the server did for one request: its id (from the prompt), when it had the whole request,
/// and CLOCK_MONOTONIC ns just before and just after the `write()` that handed each token's last
/// byte to the kernel.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Served {
    pub id: u64,
    pub received: u64,
    pub before: Vec<u64>,
    pub after: Vec<u64>,
    /// Writes the kernel did not take whole (a client not reading): 0 when all went well.
    pub blocked: u32,
}

// --- The group of server processes, seen from the bench -------------------------------------

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// The server's processes, sharing one port.
pub struct ServerGroup {
    workers: Vec<Worker>,
    pub port: u16,
}

impl ServerGroup {
    /// Starts `procs` processes, the k-th pinned to `cpus[k % len]` (not pinned without a list),
    /// and returns once all listen. `schedule_args` are this executable's schedule options.
    pub fn start(procs: usize, cpus: &[usize], schedule_args: &[String]) -> ServerGroup {
        let exe = std::env::current_exe().unwrap();
        let mut group = ServerGroup {
            workers: Vec::new(),
            port: 0,
        };
        for k in 0..procs.max(1) {
            let mut command = Command::new(&exe);
            command
                .args(["--serve-worker", "--port", &group.port.to_string()])
                .args(schedule_args);
            if !cpus.is_empty() {
                command.args(["--cpu", &cpus[k % cpus.len()].to_string()]);
            }
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("a server process starts");
            let (stdin, mut stdout) = (
                child.stdin.take().unwrap(),
                BufReader::new(child.stdout.take().unwrap()),
            );
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            // The first process takes a free port; the others join it.
            group.port = line
                .trim()
                .strip_prefix("port ")
                .and_then(|p| p.parse().ok())
                .expect("a server process says its port");
            group.workers.push(Worker { child, stdin, stdout });
        }
        group
    }

    /// Everything the server has served since the last call, by request id. Asked between
    /// levels, never during one.
    pub fn served(&mut self) -> HashMap<u64, Served> {
        for w in &mut self.workers {
            writeln!(w.stdin, "dump").unwrap();
        }
        let mut served = HashMap::new();
        for w in &mut self.workers {
            let mut line = String::new();
            loop {
                line.clear();
                w.stdout.read_line(&mut line).unwrap();
                if line.trim() == "end" || line.is_empty() {
                    break;
                }
                let s: Served = serde_json::from_str(&line).unwrap();
                served.insert(s.id, s);
            }
        }
        served
    }
}

impl Drop for ServerGroup {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let _ = w.child.kill();
            let _ = w.child.wait();
        }
    }
}

// --- One server process ----------------------------------------------------------------------

/// Runs one server process: pinned to `cpu`, listening on `port` (0: any) beside its siblings,
/// writing its log to stdout on a line `dump` from stdin and exiting when stdin closes.
pub fn run_worker(port: u16, cpu: Option<usize>, schedule: Schedule) {
    // Sleeps (ppoll's timeout) end within a few µs of their deadline instead of the default 50 µs.
    // SAFETY: prctl with PR_SET_TIMERSLACK takes one integer argument and touches no memory.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    if let Some(cpu) = cpu {
        pin(&[cpu]);
    }
    let listener = listen_shared(port);
    println!("port {}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    EventLoop {
        listener,
        schedule,
        conns: HashMap::new(),
        next_serial: 0,
        due: BinaryHeap::new(),
        log: Vec::new(),
        commands: Vec::new(),
    }
    .run()
}

/// A nonblocking listener on 127.0.0.1:`port` with SO_REUSEPORT (std cannot set it before
/// binding) and a backlog for 256 connects at once (a full queue drops SYNs, retried after 1 s).
fn listen_shared(port: u16) -> TcpListener {
    // SAFETY: plain socket calls on a descriptor made here and checked; the option and address
    // passed are live locals of the sizes given; the descriptor is handed to TcpListener once.
    unsafe {
        let fd = libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        );
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let one: libc::c_int = 1;
        let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let option = (&one as *const libc::c_int).cast();
        assert_eq!(
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, option, size),
            0
        );
        let address = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
            },
            sin_zero: [0; 8],
        };
        let length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let bound = libc::bind(fd, (&address as *const libc::sockaddr_in).cast(), length);
        assert_eq!(bound, 0, "bind to port {port}: {}", std::io::Error::last_os_error());
        assert_eq!(libc::listen(fd, 4096), 0, "listen: {}", std::io::Error::last_os_error());
        TcpListener::from_raw_fd(fd)
    }
}

enum State {
    /// Reading the request.
    Reading(Vec<u8>),
    /// Answering it: what is served so far.
    Streaming(Served),
    /// Writing a last answer (the model listing), then closing.
    Closing,
}

struct Conn {
    socket: TcpStream,
    state: State,
    /// Bytes the kernel has not taken yet (empty unless the client stopped reading).
    pending: Vec<u8>,
    /// Tokens whose after-write stamp is final: their bytes all went in a write that returned.
    settled: usize,
}

impl Conn {
    /// After a write that returned at `after`: once nothing is pending, every token written so
    /// far was handed to the kernel by then (a token whose write the kernel did not take whole
    /// gets its after-write stamp only here).
    fn settle(&mut self, after: u64) {
        if let (true, State::Streaming(served)) = (self.pending.is_empty(), &mut self.state) {
            served.after[self.settled..].fill(after);
            self.settled = served.after.len();
        }
    }
}

/// A due write: (due ns, connection serial, token index).
type Due = Reverse<(u64, u64, usize)>;

struct EventLoop {
    listener: TcpListener,
    schedule: Schedule,
    /// Open connections by serial (serials are never reused, so a due write of a connection
    /// that is gone finds nothing).
    conns: HashMap<u64, Conn>,
    next_serial: u64,
    due: BinaryHeap<Due>,
    log: Vec<Served>,
    /// Bytes from stdin not yet a whole line.
    commands: Vec<u8>,
}

const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
const MODEL_LISTING: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"data\":[]}";

/// One SSE event as one HTTP chunk.
fn chunk(data: &str) -> Vec<u8> {
    let event = format!("data: {data}\n\n");
    format!("{:x}\r\n{event}\r\n", event.len()).into_bytes()
}

impl EventLoop {
    fn run(mut self) {
        let token = chunk(r#"{"choices":[{"index":0,"delta":{"content":"tok "}}]}"#);
        let usage = format!(
            r#"{{"choices":[{{"index":0,"delta":{{}},"finish_reason":"length"}}],"usage":{{"prompt_tokens":8,"completion_tokens":{}}}}}"#,
            self.schedule.tokens
        );
        let end = [chunk(&usage), chunk("[DONE]"), b"0\r\n\r\n".to_vec()].concat();
        loop {
            while let Some(&Reverse((due, serial, k))) = self.due.peek() {
                if due > mono_ns() {
                    break;
                }
                self.due.pop();
                self.write_token(serial, k, &token, &end);
            }
            let next = self.due.peek().map(|d| d.0 .0);
            let timeout = next.map(|due| due.saturating_sub(mono_ns() + self.schedule.spin_ns));
            if !self.poll(timeout) {
                return; // stdin closed: the bench is gone
            }
            if let Some(due) = self.due.peek().map(|d| d.0 .0) {
                while due.saturating_sub(mono_ns()) <= self.schedule.spin_ns && mono_ns() < due {
                    std::hint::spin_loop();
                }
            }
        }
    }

    /// Writes token `k` of connection `serial` (and the end of the stream after the last one)
    /// and schedules the next.
    fn write_token(&mut self, serial: u64, k: usize, token: &[u8], end: &[u8]) {
        let Some(conn) = self.conns.get_mut(&serial) else {
            return;
        };
        let State::Streaming(served) = &mut conn.state else {
            return;
        };
        conn.pending.extend_from_slice(token);
        let last = k + 1 == self.schedule.tokens as usize;
        if last {
            conn.pending.extend_from_slice(end);
        }
        let before = mono_ns();
        let result = write_some(&mut conn.socket, &mut conn.pending);
        let after = mono_ns();
        served.before.push(before);
        served.after.push(after);
        if !conn.pending.is_empty() {
            served.blocked += 1;
        }
        if !last {
            let next = self.schedule.due(served.received, k + 1);
            self.due.push(Reverse((next, serial, k + 1)));
        }
        conn.settle(after);
        if result.is_err() {
            self.conns.remove(&serial);
        } else {
            self.finish_if_done(serial);
        }
    }

    /// Closes a connection whose answer is all written, and logs what it served.
    fn finish_if_done(&mut self, serial: u64) {
        let done = self.conns.get(&serial).is_some_and(|c| {
            c.pending.is_empty()
                && match &c.state {
                    State::Streaming(s) => s.before.len() == self.schedule.tokens as usize,
                    State::Closing => true,
                    State::Reading(_) => false,
                }
        });
        if done {
            if let Some(Conn {
                state: State::Streaming(served),
                ..
            }) = self.conns.remove(&serial)
            {
                self.log.push(served);
            }
        }
    }

    /// Waits up to `timeout` ns (None: until something happens) for stdin, new connections,
    /// requests and sockets that take pending bytes again, and handles them. False when stdin
    /// closed.
    fn poll(&mut self, timeout: Option<u64>) -> bool {
        let mut fds = vec![
            libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let mut serials = Vec::new();
        for (&serial, c) in &self.conns {
            let events = if !c.pending.is_empty() {
                libc::POLLOUT
            } else if matches!(c.state, State::Reading(_)) {
                libc::POLLIN
            } else {
                continue;
            };
            fds.push(libc::pollfd {
                fd: c.socket.as_raw_fd(),
                events,
                revents: 0,
            });
            serials.push(serial);
        }
        let ts = timeout.map(|ns| libc::timespec {
            tv_sec: (ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (ns % 1_000_000_000) as libc::c_long,
        });
        let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `fds` is a live array of the length given; `ts_ptr` is null or points to a
        // live timespec; a null signal mask leaves the mask as it is.
        let n = unsafe { libc::ppoll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ts_ptr, std::ptr::null()) };
        if n <= 0 {
            return true; // timeout, or a signal
        }
        if fds[0].revents != 0 && !self.read_commands() {
            return false;
        }
        if fds[1].revents != 0 {
            self.accept_all();
        }
        for (fd, serial) in fds[2..].iter().zip(serials) {
            if fd.revents != 0 {
                self.service(serial);
            }
        }
        true
    }

    /// Takes every connection waiting in the queue.
    fn accept_all(&mut self) {
        while let Ok((socket, _)) = self.listener.accept() {
            socket.set_nonblocking(true).unwrap();
            socket.set_nodelay(true).unwrap();
            self.conns.insert(
                self.next_serial,
                Conn {
                    socket,
                    state: State::Reading(Vec::new()),
                    pending: Vec::new(),
                    settled: 0,
                },
            );
            self.next_serial += 1;
        }
    }

    /// A readable or writable connection: reads its request (and starts the answer once it is
    /// whole) or writes its pending bytes.
    fn service(&mut self, serial: u64) {
        let Some(conn) = self.conns.get_mut(&serial) else {
            return;
        };
        if !conn.pending.is_empty() {
            let result = write_some(&mut conn.socket, &mut conn.pending);
            let after = mono_ns();
            if result.is_err() {
                self.conns.remove(&serial);
                return;
            }
            conn.settle(after);
            return self.finish_if_done(serial);
        }
        let State::Reading(input) = &mut conn.state else {
            return;
        };
        let mut buf = [0u8; 4096];
        let (head, body) = loop {
            match conn.socket.read(&mut buf) {
                Ok(0) => {
                    self.conns.remove(&serial);
                    return;
                }
                Ok(n) => input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.conns.remove(&serial);
                    return;
                }
            }
            if let Some(request) = whole_request(input) {
                break request;
            }
        };
        let received = mono_ns();
        if head.starts_with("get ") {
            // A model listing, for clients that look before they send (the suite's preflight).
            conn.state = State::Closing;
            conn.pending.extend_from_slice(MODEL_LISTING);
        } else {
            let id = body
                .split("req-")
                .nth(1)
                .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|d| d.parse().ok())
                .unwrap_or(u64::MAX);
            conn.state = State::Streaming(Served {
                id,
                received,
                ..Served::default()
            });
            conn.pending.extend_from_slice(STREAM_HEAD);
            self.due.push(Reverse((self.schedule.due(received, 0), serial, 0)));
        }
        if write_some(&mut conn.socket, &mut conn.pending).is_err() {
            self.conns.remove(&serial);
        } else {
            self.finish_if_done(serial);
        }
    }

    /// Reads stdin; answers each line `dump` with the log (JSON lines, then `end`). False at EOF.
    fn read_commands(&mut self) -> bool {
        let mut buf = [0u8; 256];
        // SAFETY: reads into a live buffer of the length given; fd 0 is this process's stdin.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return n < 0 && std::io::Error::last_os_error().kind() == ErrorKind::Interrupted;
        }
        self.commands.extend_from_slice(&buf[..n as usize]);
        while let Some(end) = self.commands.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.commands.drain(..=end).collect();
            if line.trim_ascii() == b"dump" {
                let mut out = std::io::stdout().lock();
                for s in self.log.drain(..) {
                    writeln!(out, "{}", serde_json::to_string(&s).unwrap()).unwrap();
                }
                writeln!(out, "end").unwrap();
                out.flush().unwrap();
            }
        }
        true
    }
}

/// Writes as much of `pending` as the socket takes now and drops it from `pending`; Err when
/// the peer is gone.
fn write_some(socket: &mut TcpStream, pending: &mut Vec<u8>) -> std::io::Result<()> {
    while !pending.is_empty() {
        match socket.write(pending) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => drop(pending.drain(..n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The request's head (lower case) and its `content-length` body, once all of it is in `input`.
fn whole_request(input: &[u8]) -> Option<(String, String)> {
    let end = input.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&input[..end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let body = input.get(end + 4..end + 4 + length)?;
    Some((head, String::from_utf8_lossy(body).into_owned()))
}
