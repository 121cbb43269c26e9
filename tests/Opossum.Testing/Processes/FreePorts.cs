using System.Net;
using System.Net.Sockets;

namespace Opossum.Testing.Processes;

public static class FreePorts
{
    // Below Linux's ephemeral range (32768–60999), from which every outgoing connection takes its local port: a port the
    // kernel handed out as free could be taken by a connection before the process it was meant for binds it.
    private const int First = 20000, Last = 32767;
    private static int s_next = First + Random.Shared.Next(Last - First);

    /// <summary>A TCP port on loopback that nothing listens on right now, outside the range outgoing connections draw from.</summary>
    public static int Next()
    {
        while (true)
        {
            var port = First + (int)((uint)Interlocked.Increment(ref s_next) % (Last - First + 1));
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // taken: try the next one
            }
        }
    }
}
