// Recipe: gRPC over the virtual network. A GrpcChannel over the client host's handler calls a Grpc.AspNetCore
// service on a virtual host through 5 % loss; the service is code-first (a hand-written Method and Marshaller, no protoc).
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using NetStack.Link.Simulation;
using NetStack.Simulation;
using NetStack.Simulation.AspNetCore;

namespace NetStack.Tests.Simulation.Recipes;

public class GrpcTests
{
    [Fact(Timeout = 60_000)]
    public async Task SayHello_ThroughFivePercentLoss_EveryCallAnswers()
    {
        await using var net = new VirtualNetwork(seed: 5);
        VirtualHost api = net.AddHost("api"), app = net.AddHost("app");
        await api.StartWebApplicationAsync(web => web.MapGrpcService<Greeter>(), web => web.Services.AddGrpc(),
            listen: endpoint => endpoint.Protocols = HttpProtocols.Http2); // gRPC is HTTP/2; without TLS, say so
        app.Link.Set(new ImpairmentOptions { LossPercent = 5 });
        using SocketsHttpHandler handler = app.CreateHandler();
        using GrpcChannel channel = GrpcChannel.ForAddress("http://api", new GrpcChannelOptions { HttpHandler = handler });
        CallInvoker calls = channel.CreateCallInvoker();
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal($"hello, app {i}", await calls.AsyncUnaryCall(GreeterBase.SayHelloMethod, null, default, $"app {i}"));
        }
    }

    /// <summary>A code-first gRPC service description (what protoc would generate): one unary method of UTF-8 strings.</summary>
    [BindServiceMethod(typeof(GreeterBase), nameof(BindService))]
    public abstract class GreeterBase
    {
        private static readonly Marshaller<string> Utf8 = Marshallers.Create(Encoding.UTF8.GetBytes, Encoding.UTF8.GetString);

        /// <summary>The method, shared by the client and the server.</summary>
        public static readonly Method<string, string> SayHelloMethod = new(MethodType.Unary, "greet.Greeter", "SayHello", Utf8, Utf8);

        /// <summary>The handler the service overrides (ASP.NET Core finds it by the method's name).</summary>
        public abstract Task<string> SayHello(string name, ServerCallContext context);

        /// <summary>Declares the service's methods to gRPC.</summary>
        public static void BindService(ServiceBinderBase binder, GreeterBase? service) =>
            binder.AddMethod(SayHelloMethod, service is null ? null : new UnaryServerMethod<string, string>(service.SayHello));
    }

    /// <summary>The service.</summary>
    public sealed class Greeter : GreeterBase
    {
        /// <inheritdoc/>
        public override Task<string> SayHello(string name, ServerCallContext context) => Task.FromResult($"hello, {name}");
    }
}
