using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace GruService.Api.Tests.Replicas;

/// <summary>
/// nginx in the foreground as a load balancer over service replicas on loopback ports, with its configuration,
/// temporary files and logs in a directory of its own. Missing nginx fails the test, saying how to install it: a
/// multi-replica test that skipped itself would pass without testing anything.
/// </summary>
public sealed class NginxProcess : IDisposable
{
    private readonly string _directory;
    private readonly Process _process;

    private NginxProcess(string directory, int port, Process process)
    {
        _directory = directory;
        Port = port;
        _process = process;
    }

    public int Port { get; }

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}");

    /// <summary>One line per request: status, method, path, then every upstream tried ("a, b" when nginx retried) and what each answered.</summary>
    public string AccessLogPath => Path.Combine(_directory, "access.log");

    public string ErrorLogPath => Path.Combine(_directory, "error.log");

    public static string? FindBinary() =>
        new[] { "/usr/sbin/nginx" }
            .Concat((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Select(d => Path.Combine(d, "nginx")))
            .FirstOrDefault(File.Exists);

    /// <summary>Starts nginx on a free loopback port in front of <paramref name="upstreamPorts"/> and waits until it accepts connections.</summary>
    public static async Task<NginxProcess> StartAsync(IReadOnlyList<int> upstreamPorts)
    {
        string binary = FindBinary() ?? throw new InvalidOperationException(
            "nginx was not found (/usr/sbin/nginx or on PATH). Run scripts/install-test-deps.sh (it installs the apt package nginx) and run the tests again.");
        string directory = Directory.CreateTempSubdirectory("gru-nginx-").FullName;
        // Under root the workers run as nobody, and must reach their temporary directories below this one.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        int port = ServiceProcess.FreePort();
        string config = Path.Combine(directory, "nginx.conf");
        await File.WriteAllTextAsync(config, Configuration(directory, port, upstreamPorts));

        var start = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        // -e: the error log before the configuration is read (Debian's default is stderr); daemon off keeps nginx this
        // process's child, so the test can stop it and nothing outlives the test.
        foreach (string argument in (string[])["-p", directory, "-c", config, "-e", Path.Combine(directory, "error.log"), "-g", "daemon off;"])
            start.ArgumentList.Add(argument);
        Process process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {binary}.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var nginx = new NginxProcess(directory, port, process);
        for (int attempt = 0; attempt < 200; attempt++)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"nginx exited with code {process.ExitCode} while starting:\n{nginx.ErrorLog()}\n{await File.ReadAllTextAsync(config)}");
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync("127.0.0.1", port);
                return nginx;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        nginx.Dispose();
        throw new TimeoutException($"nginx did not listen on port {port}:\n{nginx.ErrorLog()}");
    }

    /// <summary>
    /// Round robin over the replicas, with passive health checks: a replica that fails a request (refused, reset, a
    /// 502/503/504) is left out for a second. Inference may be retried on another replica even after it was sent,
    /// since a prediction changes nothing; everything else (uploads, jobs, activations, deletions) is retried only
    /// when it never reached a replica, which nginx does by itself for non-idempotent methods, so nothing is doubled.
    /// No keep-alive to the replicas: a connection per request, so a stopping replica's refusals are seen at once
    /// rather than on a reused connection it is closing.
    /// </summary>
    private static string Configuration(string directory, int port, IReadOnlyList<int> upstreamPorts)
    {
        string servers = string.Concat(upstreamPorts.Select(p => string.Create(CultureInfo.InvariantCulture, $"        server 127.0.0.1:{p} max_fails=1 fail_timeout=1s;\n")));
        // As root nginx switches its workers to an unprivileged user; Debian has no group "nobody", its default.
        string user = Environment.IsPrivilegedProcess ? "user nobody nogroup;\n" : "";
        return $$"""
            {{user}}worker_processes 1;
            pid {{directory}}/nginx.pid;
            error_log {{directory}}/error.log info;
            events { worker_connections 1024; }
            http {
                log_format replicas '$status $request_method $uri upstream=$upstream_addr upstream_status=$upstream_status time=$request_time';
                access_log {{directory}}/access.log replicas;
                client_body_temp_path {{directory}}/client_body;
                proxy_temp_path {{directory}}/proxy;
                fastcgi_temp_path {{directory}}/fastcgi;
                uwsgi_temp_path {{directory}}/uwsgi;
                scgi_temp_path {{directory}}/scgi;
                client_max_body_size 64m;

                upstream replicas {
            {{servers}}    }

                server {
                    listen 127.0.0.1:{{port}};
                    proxy_connect_timeout 2s;
                    proxy_read_timeout 60s;
                    proxy_next_upstream_tries 3;

                    location ~ ^/v1/models/[^/]+/(forecast|classify)$ {
                        proxy_pass http://replicas;
                        proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;
                    }

                    location / {
                        proxy_pass http://replicas;
                        proxy_next_upstream error timeout http_502 http_503 http_504;
                    }
                }
            }

            """;
    }

    public string ErrorLog() => File.Exists(ErrorLogPath) ? File.ReadAllText(ErrorLogPath) : "";

    public string[] AccessLog() => File.Exists(AccessLogPath) ? File.ReadAllLines(AccessLogPath) : [];

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                // The master is this process's child; killing it and its workers leaves nothing running.
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        finally
        {
            _process.Dispose();
            try { Directory.Delete(_directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
