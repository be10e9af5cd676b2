// A small ASP.NET Core app as a team would write it: top-level statements, configuration from appsettings.json,
// a service, a few endpoints and its own URL. The harness tests start this entry point unchanged on a virtual host.
using NetStack.Tests.SampleApi;

WebApplicationBuilder builder = WebApplication.CreateBuilder(args);
builder.Services.AddSingleton<Inventory>();
WebApplication app = builder.Build();
app.MapGet("/", (IConfiguration configuration) => configuration["Greeting"] ?? "no appsettings.json");
app.MapGet("/items/{id:int}", (int id, Inventory inventory) => inventory.Find(id) is { } item ? Results.Ok(item) : Results.NotFound());
app.MapGet("/bytes/{count:int}", (int count) => Results.Bytes(new byte[Math.Clamp(count, 0, 16 << 20)]));
app.MapGet("/environment", (IWebHostEnvironment environment) => environment.EnvironmentName);
app.Run();
